import { lazy } from 'react';
import { createBrowserRouter, Navigate, type RouteObject } from 'react-router';
import { NotFoundPage } from '@/components/not-found';
import { RootRedirect } from '@/components/root-redirect';
import { AppShell } from '@/layout/AppShell';

// Every page is its own chunk: the first load carries the shell only.
const OverviewPage = lazy(() => import('@/features/overview/OverviewPage'));
const TopicsPage = lazy(() => import('@/features/topics/TopicsPage'));
const TopicPage = lazy(() => import('@/features/topics/TopicPage'));
const PartitionsTab = lazy(() => import('@/features/topics/PartitionsTab'));
const ConfigurationTab = lazy(() => import('@/features/topics/ConfigurationTab'));
const ConsumersTab = lazy(() => import('@/features/topics/ConsumersTab'));
const MessagesTab = lazy(() => import('@/features/messages/MessagesTab'));
const GroupsPage = lazy(() => import('@/features/groups/GroupsPage'));
const GroupPage = lazy(() => import('@/features/groups/GroupPage'));
const BrokersPage = lazy(() => import('@/features/brokers/BrokersPage'));
const BrokerPage = lazy(() => import('@/features/brokers/BrokerPage'));
const SettingsPage = lazy(() => import('@/features/settings/SettingsPage'));
const LoginPage = lazy(() => import('@/features/auth/LoginPage'));

export const routes: RouteObject[] = [
  { path: '/login', element: <LoginPage /> },
  {
    path: '/',
    element: <AppShell />,
    children: [
      { index: true, element: <RootRedirect /> },
      { path: 'settings', element: <SettingsPage /> },
      {
        path: 'clusters/:cluster',
        children: [
          { index: true, element: <Navigate to="overview" replace /> },
          { path: 'overview', element: <OverviewPage /> },
          { path: 'topics', element: <TopicsPage /> },
          {
            path: 'topics/:topic',
            element: <TopicPage />,
            children: [
              { index: true, element: <Navigate to="messages" replace /> },
              { path: 'messages', element: <MessagesTab /> },
              { path: 'partitions', element: <PartitionsTab /> },
              { path: 'configuration', element: <ConfigurationTab /> },
              { path: 'consumers', element: <ConsumersTab /> },
            ],
          },
          { path: 'groups', element: <GroupsPage /> },
          { path: 'groups/:group', element: <GroupPage /> },
          { path: 'brokers', element: <BrokersPage /> },
          { path: 'brokers/:brokerId', element: <BrokerPage /> },
          { path: '*', element: <NotFoundPage /> },
        ],
      },
      { path: '*', element: <NotFoundPage /> },
    ],
  },
];

export function createAppRouter() {
  return createBrowserRouter(routes);
}
